/* pam_extid.conf and module arguments: extid_config_load. The bytes before the first NUL are
 * the file (written to a private root-owned 0600 file each run, since the loader reads a path);
 * what follows, split at newlines, is up to 16 module arguments after "config=<file>". */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define MAX_ARGS 16

/* Harness state, made once: the private directory and the file path. */
static char dir[] = "/tmp/extid-fuzz-config-XXXXXX";
static char path[64];
static char config_arg[80];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/pam_extid.conf", dir);
    snprintf(config_arg, sizeof config_arg, "config=%s", path);
    atexit(cleanup);
    return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        abort();
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n <= 0)
            abort();
        data += n;
        size -= (size_t)n;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0, file_size, i;
    struct extid_log log = fuzz_log(&total);
    const uint8_t *nul = memchr(data, '\0', size);
    const char *argv[MAX_ARGS + 1];
    char *args = NULL, *p;
    int argc = 1;
    struct extid_config cfg;

    file_size = nul ? (size_t)(nul - data) : size;
    write_file(data, file_size);
    argv[0] = config_arg;
    if (nul) {
        args = fuzz_cstr(nul + 1, size - file_size - 1);
        for (p = args; p && argc < MAX_ARGS + 1; argc++) {
            argv[argc] = p;
            p = strchr(p, '\n');
            if (p)
                *p++ = '\0';
        }
    }
    if (extid_config_load(&cfg, argc, argv, &log) == EXTID_OK) {
        /* What a successful load promises the rest of the module. */
        if (!cfg.authority || strncmp(cfg.authority, "https://", 8) != 0 || !cfg.client_id
            || !cfg.users_file || !cfg.cache_dir || !cfg.identity_claim || cfg.timeout < 1
            || cfg.max_attempts < 1)
            abort();
        extid_config_free(&cfg);
    } else {
        for (i = 0; i < sizeof cfg; i++)
            if (((const unsigned char *)&cfg)[i])
                abort(); /* a failed load leaves nothing to free */
    }
    free(args);
    return 0;
}
