#  SYNTAX = docker/dockerfile:1.7
# Check=skip=all
#escape=`
FROM busybox
RUN echo hi `
  there
