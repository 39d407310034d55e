/*
 * docker.h - a client of the Docker Engine API over its unix socket (libcurl + cJSON).
 *
 * One `struct docker_client` holds one curl handle and the negotiated API version; it is
 * not thread-safe (one per thread). Every request has a timeout and every response body a
 * size cap; streams (events, logs) are read incrementally with their own caps per frame.
 * Errors name the object, the HTTP status and Docker's own message:
 *
 *     docker: create container cohort-chain-7: HTTP 409: Conflict. The container name ... is already in use
 *
 * and a missing or dead daemon says so and how to start it. Objects are named by id or
 * name as the Engine API accepts them. Nothing here decides anything: the reconciler in
 * core/ does, this only speaks the protocol.
 */
#ifndef COHORT_DOCKER_H
#define COHORT_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Codes of the docker library. Append only. */
enum docker_status {
    DOCKER_OK = 0,
    DOCKER_E_INVALID = COHORT_ERRORS_DOCKER - 1,     /* a bad argument from our caller */
    DOCKER_E_UNAVAILABLE = COHORT_ERRORS_DOCKER - 2, /* no daemon at the socket, or it did not answer in time */
    DOCKER_E_NOT_FOUND = COHORT_ERRORS_DOCKER - 3,   /* HTTP 404: no such container, image or volume */
    DOCKER_E_CONFLICT = COHORT_ERRORS_DOCKER - 4,    /* HTTP 409: name in use, container running, ... */
    DOCKER_E_HTTP = COHORT_ERRORS_DOCKER - 5,        /* any other HTTP error status */
    DOCKER_E_MALFORMED = COHORT_ERRORS_DOCKER - 6,   /* a response we cannot read: bad JSON, bad stream frame */
    DOCKER_E_TOO_LARGE = COHORT_ERRORS_DOCKER - 7,   /* a response or frame past its cap */
    DOCKER_E_NOMEM = COHORT_ERRORS_DOCKER - 8,
    DOCKER_E_IO = COHORT_ERRORS_DOCKER - 9,          /* reading a build context failed */
    DOCKER_E_VERSION = COHORT_ERRORS_DOCKER - 10,    /* the daemon's API is older than we support */
};

const char *docker_strerror(int code);

#define DOCKER_MIN_API_VERSION "1.24"
#define DOCKER_MAX_API_VERSION "1.41" /* the newest we were written against; newer daemons accept it */

struct docker_client;

/*
 * Connects to the daemon at socket_path (NULL: $DOCKER_HOST if it is unix://..., else
 * /var/run/docker.sock), pings it and negotiates the API version: the lower of the
 * daemon's and DOCKER_MAX_API_VERSION. *out is freed with docker_close.
 */
int docker_open(struct docker_client **out, const char *socket_path, struct cohort_error *err);
void docker_close(struct docker_client *client);

/* The negotiated API version, e.g. "1.41" (owned by the client). */
const char *docker_api_version(const struct docker_client *client);

/* Sets the timeout of later requests (default 30 s; streams take their own). */
void docker_set_timeout(struct docker_client *client, long timeout_ms);

int docker_ping(struct docker_client *client, struct cohort_error *err);

struct docker_version {
    char version[32];      /* "20.10.24+dfsg1" */
    char api_version[16];  /* the daemon's newest: "1.41" */
    char os[16], arch[16];
    int ncpu;
    uint64_t memory_bytes;
};
/* /version and the CPU count and memory of /info. */
int docker_version(struct docker_client *client, struct docker_version *out, struct cohort_error *err);

/* A label key=value list, for create and filters. */
struct docker_label {
    const char *key;
    const char *value;
};

/* ---- Images ---- */

struct docker_image {
    char id[80];           /* "sha256:..." */
    int64_t size_bytes;
};
/* DOCKER_E_NOT_FOUND when absent. */
int docker_image_inspect(struct docker_client *client, const char *name, struct docker_image *out,
                         struct cohort_error *err);

/*
 * Builds an image from the folder context_dir (its regular files and folders, sent as a tar
 * archive; at most 512 MiB) with the Dockerfile at its root, tagged tag, with labels. Build
 * output lines go to on_line (may be NULL); a build error is DOCKER_E_HTTP with Docker's
 * message. Sets image_id (80 bytes) when not NULL.
 */
int docker_image_build(struct docker_client *client, const char *context_dir, const char *tag,
                       const struct docker_label *labels, size_t nlabels,
                       void (*on_line)(void *ctx, const char *line), void *ctx, char *image_id,
                       struct cohort_error *err);

int docker_image_remove(struct docker_client *client, const char *name, bool force, struct cohort_error *err);

/* ---- Volumes ---- */

int docker_volume_create(struct docker_client *client, const char *name, const struct docker_label *labels,
                         size_t nlabels, struct cohort_error *err);
/* Sets mountpoint (size >= 4096) to the volume's folder on the host when not NULL. */
int docker_volume_inspect(struct docker_client *client, const char *name, char *mountpoint, size_t mountpoint_size,
                          struct cohort_error *err);
int docker_volume_remove(struct docker_client *client, const char *name, bool force, struct cohort_error *err);

#define DOCKER_NAME_MAX 128
struct docker_name {
    char name[DOCKER_NAME_MAX];
};
/* Lists the names of volumes carrying every label given. *out is malloc'd (caller frees). */
int docker_volume_list(struct docker_client *client, const struct docker_label *labels, size_t nlabels,
                       struct docker_name **out, size_t *count, struct cohort_error *err);

/* ---- Containers ---- */

struct docker_mount {
    const char *volume; /* a named volume */
    const char *target; /* its path in the container */
    bool read_only;
};

/* Everything cohort sets when it creates a container. Zero means "Docker's default". */
struct docker_container_spec {
    const char *image;
    const char *const *cmd; /* NULL-terminated, or NULL for the image's */
    const char *const *env; /* "KEY=value", NULL-terminated, or NULL */
    const char *user;       /* "65534:65534" */
    const struct docker_label *labels;
    size_t nlabels;
    const struct docker_mount *mounts;
    size_t nmounts;
    /* HostConfig */
    bool network_host;         /* NetworkMode "host" */
    bool read_only_rootfs;
    bool cap_drop_all;
    bool no_new_privileges;
    int64_t memory_bytes;      /* hard limit (and swap the same: no swap) */
    int64_t cpu_shares;        /* relative weight out of 1024 */
    int64_t cpu_quota_us;      /* with cpu_period_us: a hard CPU cap */
    int64_t cpu_period_us;
    int64_t pids_limit;
    int64_t nofile_limit;      /* ulimit nofile, soft = hard */
    const char *log_max_size;  /* json-file "10m" */
    const char *log_max_file;  /* "3" */
    long stop_timeout_s;       /* seconds between SIGTERM and SIGKILL on stop */
};

/* Creates a container; sets id (size >= 80) to its id. DOCKER_E_CONFLICT when the name is taken. */
int docker_container_create(struct docker_client *client, const char *name, const struct docker_container_spec *spec,
                            char *id, struct cohort_error *err);
int docker_container_start(struct docker_client *client, const char *name, struct cohort_error *err);
/* Stops with SIGTERM, then SIGKILL after timeout_s. Stopping a stopped container is success. */
int docker_container_stop(struct docker_client *client, const char *name, long timeout_s, struct cohort_error *err);
int docker_container_kill(struct docker_client *client, const char *name, const char *signal,
                          struct cohort_error *err);
int docker_container_remove(struct docker_client *client, const char *name, bool force, struct cohort_error *err);

/* The limits a running container's cgroup can take in place (docker update). */
struct docker_resources {
    int64_t memory_bytes;  /* hard limit, swap the same (> 0) */
    int64_t cpu_shares;    /* > 0 */
    int64_t cpu_quota_us;  /* 0: no hard cap (a quota the container had is lifted) */
    int64_t cpu_period_us; /* with a quota; 0: 100000 */
    int64_t pids_limit;    /* 0: left as it is */
};

/* Changes a container's limits without a restart. DOCKER_E_NOT_FOUND when it is gone. */
int docker_container_update(struct docker_client *client, const char *name, const struct docker_resources *resources,
                            struct cohort_error *err);

#define DOCKER_MAX_LABELS 32

struct docker_container {
    char id[80];
    char name[128];        /* without the leading '/' */
    char image[256];
    char image_id[80];     /* "sha256:...": the image it was created from (ImageID in a list, Image in an inspect) */
    char state[16];        /* "created", "running", "exited", ... */
    bool running;
    int exit_code;
    int pid;
    bool oom_killed;
    char started_at[40], finished_at[40];
    /* From HostConfig, to check what is applied. */
    int64_t memory_bytes, cpu_shares, cpu_quota_us, cpu_period_us, pids_limit, nofile_limit;
    bool network_host, read_only_rootfs, no_new_privileges, cap_drop_all;
    char user[64];
    char restart_policy[32];
    size_t nlabels;
    char label_keys[DOCKER_MAX_LABELS][64];
    char label_values[DOCKER_MAX_LABELS][128];
};

/* DOCKER_E_NOT_FOUND when absent. */
int docker_container_inspect(struct docker_client *client, const char *name, struct docker_container *out,
                             struct cohort_error *err);

/* The value of label key in c, or NULL. */
const char *docker_container_label(const struct docker_container *c, const char *key);

/*
 * Lists containers (all states) that carry every label in labels (key=value, or just key
 * when value is NULL). *out is a malloc'd array of *count entries (filled as by list, so
 * HostConfig fields are zero); the caller frees it.
 */
int docker_container_list(struct docker_client *client, const struct docker_label *labels, size_t nlabels,
                          struct docker_container **out, size_t *count, struct cohort_error *err);

/* Waits until the container is not running (at most timeout_ms) and sets its exit code. */
int docker_container_wait(struct docker_client *client, const char *name, long timeout_ms, int *exit_code,
                          struct cohort_error *err);

/* One-shot resource usage, as `docker stats --no-stream` shows it. */
struct docker_stats {
    uint64_t cpu_total_ns, system_cpu_ns;     /* this sample */
    uint64_t precpu_total_ns, presystem_cpu_ns; /* the previous one (Docker sends both) */
    unsigned online_cpus;
    double cpu_percent;                         /* computed as the docker CLI does */
    uint64_t memory_usage_bytes, memory_limit_bytes;
    uint64_t network_rx_bytes, network_tx_bytes;
    uint64_t block_read_bytes, block_write_bytes;
    uint64_t pids;
};
int docker_container_stats(struct docker_client *client, const char *name, struct docker_stats *out,
                           struct cohort_error *err);

/*
 * Reads the container's logs (stdout and stderr, the last `tail` lines; 0 for all),
 * decoding Docker's stream framing (8-byte headers: stream, 0, 0, 0, big-endian length).
 * on_chunk gets each frame's bytes with its stream (1 stdout, 2 stderr). Frames over
 * 1 MiB, or more than max_bytes in all, are errors.
 */
int docker_container_logs(struct docker_client *client, const char *name, unsigned tail, size_t max_bytes,
                          void (*on_chunk)(void *ctx, int stream, const char *data, size_t len), void *ctx,
                          struct cohort_error *err);

/* An event from /events: the type ("container"), action ("start", "die", ...), actor id and its name. */
struct docker_event {
    char type[16];
    char action[64];
    char id[80];
    char name[128];
    int exit_code;  /* for "die"; -1 otherwise */
    int64_t time_ns;
};

/*
 * Streams /events for containers with the given labels, for at most timeout_ms (0: until
 * the callback returns non-zero). Each event goes to on_event; a non-zero return stops.
 * since_ns: replay events since this UNIX time in nanoseconds (0: only new ones).
 */
int docker_events(struct docker_client *client, const struct docker_label *labels, size_t nlabels, int64_t since_ns,
                  long timeout_ms, int (*on_event)(void *ctx, const struct docker_event *event), void *ctx,
                  struct cohort_error *err);

/* ---- Decoders, exposed for tests and fuzzing ---- */

/*
 * Feeds bytes of a multiplexed log stream to a decoder that calls on_chunk per complete
 * frame. Returns 0, or DOCKER_E_MALFORMED / DOCKER_E_TOO_LARGE on a bad header.
 */
struct docker_frame_decoder {
    uint8_t header[8];
    size_t header_len;
    char *payload;
    size_t payload_len, payload_need, payload_cap;
    int stream;
    size_t total, max_total;
    void (*on_chunk)(void *ctx, int stream, const char *data, size_t len);
    void *ctx;
};
void docker_frame_decoder_init(struct docker_frame_decoder *d, size_t max_total,
                               void (*on_chunk)(void *ctx, int stream, const char *data, size_t len), void *ctx);
int docker_frame_decoder_feed(struct docker_frame_decoder *d, const uint8_t *data, size_t len, struct cohort_error *err);
void docker_frame_decoder_free(struct docker_frame_decoder *d);

/* Parses one container object of /containers/{id}/json or /containers/json into out. */
int docker_parse_container(const char *json, size_t len, struct docker_container *out, struct cohort_error *err);

#endif
