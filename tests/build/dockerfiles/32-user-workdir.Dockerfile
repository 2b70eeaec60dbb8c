FROM busybox
ENV APP=/srv/app U=nobody
WORKDIR $APP
WORKDIR sub dir
USER ${U}:nogroup
