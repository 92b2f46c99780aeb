/*
 * A threaded aarch64 Linux program for qemu-aarch64 (linux-user): each
 * thread that exits unparents, and so unrealizes, its CPU.  Starts
 * rounds of threads that exit, and checks that each ran.
 */
#include <pthread.h>
#include <stdio.h>

#define ROUNDS 20
#define THREADS 16

static void *work(void *arg)
{
    volatile unsigned long *n = arg;

    for (int i = 0; i < 1000; i++) {
        (*n)++;
    }
    return NULL;
}

int main(void)
{
    unsigned long counts[THREADS];
    int done = 0;

    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[THREADS];

        for (int i = 0; i < THREADS; i++) {
            counts[i] = 0;
            if (pthread_create(&t[i], NULL, work, &counts[i])) {
                return 1;
            }
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(t[i], NULL);
            done += counts[i] == 1000;
        }
    }
    printf("threads done %d\n", done);
    return done == ROUNDS * THREADS ? 0 : 2;
}
