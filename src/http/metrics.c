/* /metrics: Prometheus text exposition format 0.0.4, from counters the
 * server keeps as it goes (no registry: a fixed table of route x status). */
#include <string.h>
#include <unistd.h>

#include "http/server_internal.h"
#include "pipe/ctx.h"

void pipe__metrics_request(pipe_http_server_t* srv, const char* route,
                           int status, uint64_t in, uint64_t out) {
  pipe_http_metrics_t* m = &srv->metrics;
  size_t i;
  (void)in;
  m->bytes_out += out;
  for (i = 0; i < m->nreqs; i++)
    if (m->reqs[i].status == status && strcmp(m->reqs[i].route, route) == 0) {
      m->reqs[i].n++;
      return;
    }
  if (m->nreqs == PIPE_HTTP_METRIC_SLOTS) { /* full: fold into "other" */
    route = "other";
    status = 0;
    for (i = 0; i < m->nreqs; i++)
      if (m->reqs[i].status == 0) {
        m->reqs[i].n++;
        return;
      }
    i = m->nreqs - 1;
  } else {
    i = m->nreqs++;
  }
  m->reqs[i].route = route;
  m->reqs[i].status = status;
  m->reqs[i].n = 1;
}

void pipe__metrics_stage(pipe_http_server_t* srv, const pipe_stage_t* s) {
  pipe_http_metrics_t* m = &srv->metrics;
  size_t i;
  if (s->prev == NULL) m->source_blocked_ns += s->stats.blocked_ns;
  for (i = 0; i < m->nstages; i++)
    if (strcmp(m->stage_names[i], s->ops->name) == 0) break;
  if (i == m->nstages) {
    if (m->nstages == 8) return;
    m->stage_names[m->nstages++] = s->ops->name; /* static strings */
  }
  m->stage_ns[i] += s->stats.blocked_ns;
  m->stage_bytes[i] += s->stats.bytes_in;
}

/* Connection admission (listener.c), this process's limits and which
 * process it is: with --workers each worker answers for itself. */
static void render_conns(pipe_http_server_t* srv, pipe_sbuf_t* b) {
  pipe_http_metrics_t* m = &srv->metrics;
  pipe__sbuf_printf(
      b,
      "# HELP pipe_http_connections_refused_total Connections answered 503 "
      "and closed as they were accepted: at --max-connections "
      "(max_connections) or out of file descriptors (fd_limit).\n"
      "# TYPE pipe_http_connections_refused_total counter\n"
      "pipe_http_connections_refused_total{reason=\"max_connections\"} %llu\n"
      "pipe_http_connections_refused_total{reason=\"fd_limit\"} %llu\n"
      "# HELP pipe_http_connections_reclaimed_total Idle keep-alive "
      "connections closed to make room for a new one at --max-connections.\n"
      "# TYPE pipe_http_connections_reclaimed_total counter\n"
      "pipe_http_connections_reclaimed_total %llu\n"
      "# HELP pipe_http_accept_paused_total Times accepting paused for 100 ms "
      "after an accept error (out of descriptors with no spare left, out of "
      "memory).\n"
      "# TYPE pipe_http_accept_paused_total counter\n"
      "pipe_http_accept_paused_total %llu\n"
      "# HELP pipe_http_limit This process's limits: its share of the "
      "server's with --workers (0: none).\n"
      "# TYPE pipe_http_limit gauge\n"
      "pipe_http_limit{name=\"max_connections\"} %u\n"
      "pipe_http_limit{name=\"max_memory\"} %llu\n"
      "pipe_http_limit{name=\"max_uploads\"} %u\n"
      "# HELP pipe_http_worker_info The process that answered: its worker "
      "index (0 without --workers) and pid.\n"
      "# TYPE pipe_http_worker_info gauge\n"
      "pipe_http_worker_info{worker=\"%u\",pid=\"%d\"} 1\n",
      (unsigned long long)m->conns_refused[PIPE_HTTP_REFUSE_MAX_CONNS],
      (unsigned long long)m->conns_refused[PIPE_HTTP_REFUSE_FD_LIMIT],
      (unsigned long long)m->conns_reclaimed,
      (unsigned long long)m->accept_paused, srv->cfg.max_connections,
      (unsigned long long)srv->cfg.max_memory, srv->cfg.max_uploads,
      srv->cfg.worker, (int)getpid());
}

void pipe__server_metrics_render(pipe_http_server_t* srv, pipe_sbuf_t* b) {
  pipe_http_metrics_t* m = &srv->metrics;
  size_t i;
  pipe__sbuf_puts(b,
                  "# HELP pipe_http_requests_total HTTP requests answered, by "
                  "route and status.\n"
                  "# TYPE pipe_http_requests_total counter\n");
  for (i = 0; i < m->nreqs; i++)
    pipe__sbuf_printf(b, "pipe_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                      m->reqs[i].route, m->reqs[i].status,
                      (unsigned long long)m->reqs[i].n);
  pipe__sbuf_printf(b,
                    "# HELP pipe_http_received_bytes_total Bytes read from "
                    "clients.\n"
                    "# TYPE pipe_http_received_bytes_total counter\n"
                    "pipe_http_received_bytes_total %llu\n"
                    "# HELP pipe_http_sent_bytes_total Response body bytes "
                    "sent.\n"
                    "# TYPE pipe_http_sent_bytes_total counter\n"
                    "pipe_http_sent_bytes_total %llu\n"
                    "# HELP pipe_http_stored_bytes_total Bytes stored by "
                    "completed uploads.\n"
                    "# TYPE pipe_http_stored_bytes_total counter\n"
                    "pipe_http_stored_bytes_total %llu\n"
                    "# HELP pipe_http_uploads_in_flight Uploads being "
                    "received or stored.\n"
                    "# TYPE pipe_http_uploads_in_flight gauge\n"
                    "pipe_http_uploads_in_flight %u\n"
                    "# HELP pipe_http_uploads_rejected_total Uploads refused "
                    "by --max-uploads / --max-memory (503).\n"
                    "# TYPE pipe_http_uploads_rejected_total counter\n"
                    "pipe_http_uploads_rejected_total %llu\n"
                    "# HELP pipe_http_pool_reserved_bytes Worst-case buffer "
                    "memory of the pipelines running now.\n"
                    "# TYPE pipe_http_pool_reserved_bytes gauge\n"
                    "pipe_http_pool_reserved_bytes %zu\n"
                    "# HELP pipe_http_pool_limit_bytes This worker's share "
                    "of --max-memory (0: none).\n"
                    "# TYPE pipe_http_pool_limit_bytes gauge\n"
                    "pipe_http_pool_limit_bytes %llu\n"
                    "# HELP pipe_http_backpressure_seconds_total Time request "
                    "bodies waited for their pipeline (socket not read).\n"
                    "# TYPE pipe_http_backpressure_seconds_total counter\n"
                    "pipe_http_backpressure_seconds_total %.6f\n"
                    "# HELP pipe_http_connections Open connections.\n"
                    "# TYPE pipe_http_connections gauge\n"
                    "pipe_http_connections %zu\n",
                    (unsigned long long)m->bytes_in,
                    (unsigned long long)m->bytes_out,
                    (unsigned long long)m->stored_bytes, srv->uploads_in_flight,
                    (unsigned long long)m->rejected, srv->mem_in_use,
                    (unsigned long long)srv->cfg.max_memory,
                    (double)m->source_blocked_ns / 1e9, srv->nconns - srv->nclosing);
  {
    /* The CPU budget every upload's jobs share (the server's context). */
    unsigned running;
    size_t queued;
    uint64_t waited;
    pipe_ctx_cpu_stats(srv->ctx, &running, &queued, &waited);
    pipe__sbuf_printf(b,
                      "# HELP pipe_cpu_jobs_running CPU jobs (gzip blocks) "
                      "on the thread pool now, all uploads together.\n"
                      "# TYPE pipe_cpu_jobs_running gauge\n"
                      "pipe_cpu_jobs_running %u\n"
                      "# HELP pipe_cpu_jobs_queued CPU jobs waiting for the "
                      "budget now.\n"
                      "# TYPE pipe_cpu_jobs_queued gauge\n"
                      "pipe_cpu_jobs_queued %zu\n"
                      "# HELP pipe_cpu_jobs_budget CPU jobs allowed on the "
                      "thread pool at once (--max-cpu-jobs or its "
                      "default).\n"
                      "# TYPE pipe_cpu_jobs_budget gauge\n"
                      "pipe_cpu_jobs_budget %u\n"
                      "# HELP pipe_cpu_jobs_waited_total CPU jobs that had "
                      "to wait for the budget.\n"
                      "# TYPE pipe_cpu_jobs_waited_total counter\n"
                      "pipe_cpu_jobs_waited_total %llu\n",
                      running, queued, pipe_ctx_cpu_jobs(srv->ctx),
                      (unsigned long long)waited);
  }
  pipe__sbuf_puts(b,
                  "# HELP pipe_http_stage_blocked_seconds_total Time each "
                  "stage kind waited on the stage below it (finished "
                  "pipelines).\n"
                  "# TYPE pipe_http_stage_blocked_seconds_total counter\n");
  for (i = 0; i < m->nstages; i++)
    pipe__sbuf_printf(b, "pipe_http_stage_blocked_seconds_total{stage=\"%s\"} %.6f\n",
                      m->stage_names[i], (double)m->stage_ns[i] / 1e9);
  pipe__sbuf_puts(b,
                  "# HELP pipe_http_stage_bytes_total Bytes into each stage "
                  "kind (finished pipelines).\n"
                  "# TYPE pipe_http_stage_bytes_total counter\n");
  for (i = 0; i < m->nstages; i++)
    pipe__sbuf_printf(b, "pipe_http_stage_bytes_total{stage=\"%s\"} %llu\n",
                      m->stage_names[i], (unsigned long long)m->stage_bytes[i]);
  render_conns(srv, b);
}
