FROM busybox AS builder
RUN echo made > /made.txt
FROM busybox
COPY --from=0 /made.txt /by-index.txt
COPY --from=Builder /made.txt /by-name.txt
COPY --from=busybox:latest /bin/busybox /by-image
