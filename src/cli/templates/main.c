/* ain-sre function (native): a static Linux binary that reads stdin and writes stdout.
 * Build it static (the worker refuses a dynamically linked binary), for example:
 *   musl-gcc -static -O2 -o main main.c        (apt-get install musl-tools)
 *   gcc -static -O2 -o main main.c             (glibc static)
 * then `ain-sre invoke DIR` runs ./main. Any language works if the result is a static ELF
 * (Rust: cargo build --release --target x86_64-unknown-linux-musl; Go: CGO_ENABLED=0 go build). */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *function = getenv("SRE_FUNCTION");
    size_t bytes = 0;
    int c;
    while ((c = getchar()) != EOF) bytes++;
    printf("{\"bytes\":%zu,\"function\":\"%s\"}", bytes, function ? function : "");
    return 0;
}
