FROM busybox
RUN cat <<A > /a.txt && cat <<B > /b.txt
alpha
A
bravo
B
