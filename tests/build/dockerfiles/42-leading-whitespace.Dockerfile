  # indented comment
	FROM busybox
    RUN echo indented
		# another
  ENV K=v
