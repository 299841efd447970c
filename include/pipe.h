/* pipe — streaming data pipelines: pooled buffers, stages, backpressure.
 * The umbrella header: include this and link with `pkg-config --libs pipe`. */
#ifndef PIPE_H
#define PIPE_H

#define PIPE_VERSION_MAJOR 0
#define PIPE_VERSION_MINOR 1
#define PIPE_VERSION_PATCH 0
#define PIPE_VERSION_STRING "0.1.0"

#include "pipe/error.h"
#include "pipe/buf.h"
#include "pipe/pool.h"
#include "pipe/work.h"
#include "pipe/stage.h"
#include "pipe/pipeline.h"
#include "pipe/transform.h"
#include "pipe/io.h"
#include "pipe/csv.h"
#include "pipe/gzip.h"
#include "pipe/hash.h"
#include "pipe/spec.h"
#include "pipe/s3_config.h"
#include "pipe/ctx.h"
#include "pipe/s3.h"

#endif /* PIPE_H */
