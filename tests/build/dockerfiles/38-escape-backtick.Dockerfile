# escape=`
FROM busybox
RUN echo C:\path\here `
    continued
ENV P=C:\Windows `
    Q=`$literal
