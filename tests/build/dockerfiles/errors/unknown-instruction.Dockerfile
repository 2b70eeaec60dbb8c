FROM busybox
RUN true
COPPY a b
