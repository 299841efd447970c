/* pipe — symbol visibility of the public API.
 *
 * libpipe is compiled with -fvisibility=hidden, so only what a public header
 * marks PIPE_EXTERN is exported from libpipe.so: the internal pipe__
 * functions shared between the library's own files stay private (libuv's
 * UV_EXTERN). Every function declared in include/pipe/ carries it.
 */
#ifndef PIPE_EXPORT_H
#define PIPE_EXPORT_H

#if defined(_WIN32)
#  if defined(PIPE_BUILDING_SHARED)
#    define PIPE_EXTERN __declspec(dllexport)
#  else
#    define PIPE_EXTERN /* nothing: static linking or import */
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define PIPE_EXTERN __attribute__((visibility("default")))
#else
#  define PIPE_EXTERN /* nothing */
#endif

#endif /* PIPE_EXPORT_H */
