FROM busybox
ONBUILD RUN echo triggered
ONBUILD COPY --chown=1:1 . /app
onbuild run <<EOF
echo heredoc trigger
EOF
