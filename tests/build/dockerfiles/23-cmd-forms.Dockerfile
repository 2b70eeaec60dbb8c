FROM busybox
CMD ["echo", "exec"]
CMD echo shell $HOME
CMD []
