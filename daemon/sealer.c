/* SPDX-License-Identifier: MIT */
/*
 * One worker thread and a queue. Jobs own a duplicate of the memfd so the
 * region may be destroyed while its seal is in flight; the completion then
 * finds nothing to update. The worker never touches daemon state: it only
 * calls fcntl() and hands the job back through a pipe.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "sealer.h"

typedef struct Job {
        struct Job *next;
        int fd;
        unsigned seals;
        int result;
        sealer_done_fn done;
        void *userdata;
} Job;

struct Sealer {
        pthread_t thread;
        bool started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Job *head, **tail;
        bool quit;
        int pipe[2]; /* worker -> loop: finished Job pointers */
        struct event *ev;
};

static void *worker(void *userdata) {
        Sealer *s = userdata;

        for (;;) {
                Job *j;

                pthread_mutex_lock(&s->lock);
                while (!s->head && !s->quit)
                        pthread_cond_wait(&s->cond, &s->lock);
                if (!s->head) {
                        pthread_mutex_unlock(&s->lock);
                        return NULL;
                }
                j = s->head;
                s->head = j->next;
                if (!s->head)
                        s->tail = &s->head;
                pthread_mutex_unlock(&s->lock);

                j->result = fcntl(j->fd, F_ADD_SEALS, j->seals) < 0 ? -errno : 0;
                /* A pointer is 8 bytes: well under PIPE_BUF, so the write is atomic. */
                while (write(s->pipe[1], &j, sizeof(j)) < 0 && errno == EINTR)
                        ;
        }
}

static void job_finish(Job *j) {
        safe_close(j->fd);
        j->done(j->result, j->userdata);
        free(j);
}

static void on_done(evutil_socket_t fd, short what, void *userdata) {
        Sealer *s = userdata;
        Job *j;

        while (read(s->pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j))
                job_finish(j);
}

int sealer_new(Sealer **ret, struct event_base *base) {
        Sealer *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->pipe[0] = s->pipe[1] = -1;
        s->tail = &s->head;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        if (pipe2(s->pipe, O_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        /* Only the read end is non-blocking: the worker may wait for room. */
        if (fcntl(s->pipe[0], F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }
        s->ev = event_new(base, s->pipe[0], EV_READ | EV_PERSIST, on_done, s);
        if (!s->ev || event_add(s->ev, NULL) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = -pthread_create(&s->thread, NULL, worker, s);
        if (r < 0)
                goto fail;
        s->started = true;
        *ret = s;
        return 0;
fail:
        sealer_free(s);
        return r;
}

Sealer *sealer_free(Sealer *s) {
        Job *j;

        if (!s)
                return NULL;
        if (s->started) {
                pthread_mutex_lock(&s->lock);
                s->quit = true;
                pthread_cond_signal(&s->cond);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->thread, NULL);
        }
        /* Finished but undelivered, then never started. */
        if (s->pipe[0] >= 0)
                while (read(s->pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j))
                        job_finish(j);
        while ((j = s->head)) {
                s->head = j->next;
                j->result = -ECANCELED;
                job_finish(j);
        }
        if (s->ev)
                event_free(s->ev);
        safe_close(s->pipe[0]);
        safe_close(s->pipe[1]);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

int sealer_submit(Sealer *s, int fd, unsigned seals, sealer_done_fn done, void *userdata) {
        Job *j = calloc(1, sizeof(*j));

        if (!j)
                return -ENOMEM;
        j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (j->fd < 0) {
                int r = -errno;
                free(j);
                return r;
        }
        j->seals = seals;
        j->done = done;
        j->userdata = userdata;
        pthread_mutex_lock(&s->lock);
        *s->tail = j;
        s->tail = &j->next;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        return 0;
}
