FROM busybox
ARG NEEDED
ENV X="${NEEDED:?must be set}"
