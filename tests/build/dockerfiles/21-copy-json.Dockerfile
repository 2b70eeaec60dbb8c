FROM busybox
ENV DEST="/dest with space/"
COPY ["context/hello.txt", "$DEST"]
ADD ["context/hello.txt", "/added.txt"]
