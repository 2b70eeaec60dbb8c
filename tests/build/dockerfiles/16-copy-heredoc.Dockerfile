FROM busybox
ENV NAME=world
COPY <<EOF /greeting.txt
hello $NAME "quoted" 'single'
EOF
COPY <<"EOF" /literal.txt
hello $NAME
EOF
