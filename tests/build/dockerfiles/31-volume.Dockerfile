FROM busybox
ENV DATA=/data
VOLUME ["/var/log", "$DATA"]
VOLUME /a /b
