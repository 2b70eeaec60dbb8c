FROM busybox
ADD --from=busybox /bin/sh /sh
