# The subnode image: cohort-subnode and only the shared libraries it links (copied with
# their paths by scripts/build-subnode-image.sh, the dynamic loader included). No shell,
# no package manager. Runs as nobody; cohort-core adds the limits, a read-only root and
# the chain's volume at /data.
FROM scratch
COPY rootfs/ /
USER 65534:65534
ENTRYPOINT ["/usr/bin/cohort-subnode"]
