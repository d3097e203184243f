/*  =========================================================================
    pi - estimate pi by Monte Carlo sampling, spread over parallel jobs

    pi.generate_sample(size=100000) -> [count, size]
        `size` random points in the unit square, `count` of them inside
        the quarter circle of radius 1.
    pi.process_samples(samples...) -> 4.0 * sum(count) / sum(size)
        Each argument is a [count, size] pair, a child summary as a
        parallel job's postprocess gets it ({"id", "status", "result"} or
        {"id", "status", "failure"}), or an array of those (a parallel
        job's result, when this runs as its callback). Failed children are
        skipped; when none succeeded the task fails with ValueError.

        asyncctl parallel --postprocess pi.process_samples \
            'pi.generate_sample 1000000' 'pi.generate_sample 1000000'
    =========================================================================
*/
#include <asyncmesh/task.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define S_GENERATE_SIG  "pi.generate_sample(size=100000)"
#define S_PROCESS_SIG   "pi.process_samples(samples...)"
#define S_DEFAULT_SIZE  100000
#define S_CANCEL_EVERY  (1 << 22)   //  points between cancellation checks

//  xoshiro256** (Blackman and Vigna, 2018): fast, small, and good enough
//  for Monte Carlo. Each call owns its own state, so it is thread-safe.
typedef struct {
    uint64_t s [4];
} s_rng_t;

static uint64_t
s_splitmix64 (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

//  Seed from the kernel's entropy pool; should it not be ready (early
//  boot), from the clock, the thread and a stack address.
static void
s_rng_seed (s_rng_t *self)
{
    uint64_t seed;
    ssize_t got = getrandom (&seed, sizeof seed, GRND_NONBLOCK);
    if (got != (ssize_t) sizeof seed) {
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        seed = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
        seed ^= s_splitmix64 (&(uint64_t) { (uint64_t) pthread_self () });
        seed ^= (uint64_t) (uintptr_t) &ts;
    }
    for (int i = 0; i < 4; i++)
        self->s [i] = s_splitmix64 (&seed);
}

static inline uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t
s_rng_next (s_rng_t *self)
{
    uint64_t *s = self->s;
    uint64_t result = s_rotl (s [1] * 5, 7) * 9;
    uint64_t t = s [1] << 17;
    s [2] ^= s [0];
    s [3] ^= s [1];
    s [1] ^= s [2];
    s [0] ^= s [3];
    s [2] ^= t;
    s [3] = s_rotl (s [3], 45);
    return result;
}

//  A uniform double in [0, 1), from the top 53 bits
static inline double
s_rng_double (s_rng_t *self)
{
    return (double) (s_rng_next (self) >> 11) * 0x1.0p-53;
}

//  A sample size: a positive integer (an integral float such as 1e6 will
//  do). 0, or -1 if `value` is none.
static int
s_size_value (json_t *value, json_int_t *size)
{
    if (json_is_integer (value))
        *size = json_integer_value (value);
    else
    if (json_is_real (value)
    &&  json_real_value (value) == floor (json_real_value (value))
    &&  fabs (json_real_value (value)) <= 0x1.0p53)
        *size = (json_int_t) json_real_value (value);
    else
        return -1;
    return *size > 0 ? 0 : -1;
}

static int
s_generate_sample (async_task_t *task)
{
    if (async_task_argc (task) > 1)
        return async_task_failf (task, "BadArgumentsError", S_GENERATE_SIG ": takes at most one argument");
    json_t *value = async_task_arg (task, 0);
    const char *key;
    json_t *kwarg;
    json_object_foreach (async_task_kwargs (task), key, kwarg) {
        if (strcmp (key, "size") != 0)
            return async_task_failf (task, "BadArgumentsError", S_GENERATE_SIG
                          ": unexpected keyword argument '%s'", key);
        if (value)
            return async_task_failf (task, "BadArgumentsError", S_GENERATE_SIG ": size given twice");
        value = kwarg;
    }
    json_int_t size = S_DEFAULT_SIZE;
    if (value && s_size_value (value, &size))
        return async_task_failf (task, "BadArgumentsError", S_GENERATE_SIG ": size must be a positive integer");

    s_rng_t rng;
    s_rng_seed (&rng);
    json_int_t count = 0;
    for (json_int_t i = 0; i < size; i++) {
        double x = s_rng_double (&rng);
        double y = s_rng_double (&rng);
        count += x * x + y * y < 1.0;
        if ((i + 1) % S_CANCEL_EVERY == 0 && async_task_cancelled (task))
            return async_task_fail (task, "CancelledError",
                                    "pi.generate_sample: cancelled");
    }
    return async_task_return (task, json_pack ("[II]", count, size));
}

typedef struct {
    json_int_t count;           //  points inside, over all samples
    json_int_t size;            //  points drawn, over all samples
    size_t succeeded;           //  samples counted
    size_t failed;              //  failed children skipped
} s_tally_t;

//  True if `value` is a [count, size] pair with 0 <= count <= size
static bool
s_is_pair (json_t *value)
{
    json_t *count = json_array_get (value, 0);
    json_t *size = json_array_get (value, 1);
    return json_array_size (value) == 2
        && json_is_integer (count) && json_is_integer (size)
        && json_integer_value (count) >= 0
        && json_integer_value (count) <= json_integer_value (size);
}

//  Add one argument of process_samples: a pair, a child summary, or (at
//  the top level only) an array of them. NULL, or what is wrong with it.
static const char *
s_tally_add (s_tally_t *self, json_t *value, bool top)
{
    if (json_is_object (value)) {
        if (json_object_get (value, "failure")) {
            self->failed++;
            return NULL;
        }
        value = json_object_get (value, "result");
        if (!s_is_pair (value))
            return "a child summary must hold a failure "
                   "or a [count, size] result";
    }
    else
    if (top && json_is_array (value) && !s_is_pair (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item) {
            const char *why = s_tally_add (self, item, false);
            if (why)
                return why;
        }
        return NULL;
    }
    if (!s_is_pair (value))
        return "must be a [count, size] pair (0 <= count <= size), "
               "a child summary, or an array of them";
    json_int_t count = json_integer_value (json_array_get (value, 0));
    json_int_t size = json_integer_value (json_array_get (value, 1));
    if (__builtin_add_overflow (self->count, count, &self->count)
    ||  __builtin_add_overflow (self->size, size, &self->size))
        return "the sums of the samples overflow";
    self->succeeded++;
    return NULL;
}

static int
s_process_samples (async_task_t *task)
{
    if (json_object_size (async_task_kwargs (task)) > 0)
        return async_task_failf (task, "BadArgumentsError", S_PROCESS_SIG ": takes no keyword arguments");
    s_tally_t tally = { 0, 0, 0, 0 };
    for (size_t index = 0; index < async_task_argc (task); index++) {
        json_t *arg = async_task_arg (task, index);
        const char *why = s_tally_add (&tally, arg, true);
        if (why)
            return async_task_failf (task, "BadArgumentsError", S_PROCESS_SIG ": argument %zu: %s",
                          index + 1, why);
    }
    char message [128];
    if (tally.succeeded == 0) {
        snprintf (message, sizeof message,
                  "pi.process_samples: no sample succeeded (%zu failed)",
                  tally.failed);
        return async_task_fail (task, "ValueError", message);
    }
    if (tally.size == 0)
        return async_task_fail (task, "ValueError",
                                "pi.process_samples: no points in the samples");
    return async_task_return (task,
        json_real (4.0 * (double) tally.count / (double) tally.size));
}

ASYNC_MODULE_INIT (registry)
{
    if (async_registry_add (registry, "pi.generate_sample", s_generate_sample)
    ||  async_registry_add (registry, "pi.process_samples", s_process_samples))
        return -1;
    return 0;
}
