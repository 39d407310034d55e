/*
 * manager_artifact.h - the compiled manager contract (artifacts/CohortManager.json: ABI,
 * bytecode, compiler settings), embedded into the library at build time so the CLI can
 * deploy and decode without the source tree. The bytes are the file's, NUL-terminated.
 */
#ifndef COHORT_CONTRACTS_ABI_MANAGER_ARTIFACT_H
#define COHORT_CONTRACTS_ABI_MANAGER_ARTIFACT_H

extern const unsigned char manager_artifact_json[];
extern const unsigned long manager_artifact_json_len;

#endif
