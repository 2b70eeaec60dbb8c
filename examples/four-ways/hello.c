/* The program the four builds package: prints where it runs. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    char host[256] = "?";
    gethostname(host, sizeof host);
    printf("hello from a four-ways build, running in %s\n", host);
    return 0;
}
