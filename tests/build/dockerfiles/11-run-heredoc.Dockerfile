FROM busybox
RUN <<EOF
echo first
echo "second $HOME"
EOF
RUN echo after
