#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
static const uint64_t name_ok[2] = {
    (1ull << '-') | (1ull << '.') | (0x3ffull << '0'),
    (0x3ffffffull << ('A' - 64)) | (1ull << ('_' - 64)) | (0x3ffffffull << ('a' - 64)),
};
int main(void)
{
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        bool n = c < 128 && (name_ok[c >> 6] >> (c & 63) & 1);
        if (ok != n) {
            printf("mismatch %d\n", c);
            bad++;
        }
    }
    printf("bad=%d\n", bad);
    return bad;
}
