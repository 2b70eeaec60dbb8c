ARG FLAVOR=base
FROM busybox AS base
ENV FROM_BASE=1
FROM ${FLAVOR} AS next
RUN echo $FROM_BASE
FROM scratch
COPY --from=next /bin/busybox /busybox
