FROM busybox
ARG OWNER=1000
COPY --chown=${OWNER}:${OWNER} --chmod=640 --link context/hello.txt /app/
COPY --link=false context/hello.txt /app/again.txt
