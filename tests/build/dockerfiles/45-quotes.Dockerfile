FROM busybox
ARG V=val
ENV S='single $V "dq"' D="double $V 'sq' \"esc\"" M=pre"mid $V"'post $V'
WORKDIR "/path with $V"
