FROM busybox
ARG REV=abc123
LABEL org.opencontainers.image.revision=$REV \
      "description"="a multi word value" \
      other='single $REV'
LABEL legacy form with spaces
