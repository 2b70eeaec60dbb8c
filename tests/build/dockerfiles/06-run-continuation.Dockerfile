FROM busybox
RUN echo one \
# a comment line is skipped
    two \

    three
RUN echo a\
b
