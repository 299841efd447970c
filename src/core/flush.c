/* The flush signal (pipe_stage_flush in pipe/stage.h).
 *
 * Synchronous, like pipe_stage_push: a source calls it right after the push
 * of its last data for now, so the stage below sees it after that data. A
 * stage that holds data back (a transform filling its output buffer) has
 * a flush handler (pipe_stage_t.flush); stages without one (a sink writing every buffer at once, a
 * pass-through hash) are skipped. gzip has none either: it cuts its own
 * blocks, and a live stream into gzip is not a case worth a partial member.
 */
#include "pipe/stage.h"

void pipe_stage_flush(pipe_stage_t* s) {
  pipe_stage_t* n;
  if (pipe_stage_stopping(s)) return;
  for (n = s->next; n != NULL && !n->destroyed; n = n->next) {
    if (n->flush != NULL) {
      n->flush(n);
      return;
    }
  }
}
