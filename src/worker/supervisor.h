/*
 * supervisor.h: the worker's main process: owns the broker connection, decodes
 * messages, holds ETA tasks, dispatches to prefork children, publishes results with
 * confirms, retries, dead-letters, and acks last (see supervisor.c for the rules).
 */
#ifndef CELERIAC_SUPERVISOR_H
#define CELERIAC_SUPERVISOR_H

#include "util/config.h"

typedef struct worker_settings {
    char broker_url[CFG_STR_MAX];
    char result_backend[CFG_STR_MAX];
    char queues[CFG_STR_MAX];
    long concurrency;
    long prefetch_multiplier;
    char hostname[CFG_STR_MAX];
    int task_events;
    char loglevel[CFG_STR_MAX];
    char logformat[CFG_STR_MAX];
    int track_started;
    long heartbeat;
    long max_message_bytes;
    char dead_letter_queue[CFG_STR_MAX];
    char dead_letter_mode[CFG_STR_MAX];
    char queue_declare[CFG_STR_MAX];
    char task_aliases[CFG_STR_MAX];
    long completed_cache;
    double confirm_timeout;
    char events_queue[CFG_STR_MAX];
    char event_routes[CFG_STR_MAX];
    char events_task_queue[CFG_STR_MAX];
    double task_time_limit;
    double task_soft_time_limit;
    long metrics_port;
    char default_queue[CFG_STR_MAX];
    char metrics_address[CFG_STR_MAX];
    int help;
    int help_markdown;
} worker_settings;

/* Runs until shutdown. Returns the process exit code (0 after a warm shutdown). The
 * settings must be validated and the hostname expanded. */
int sup_run(const worker_settings *cfg);

#endif
