/*
 * replay/replay.h — the replay's internals; its API is trailguard/replay.h.
 */
#ifndef TRAILGUARD_REPLAY_REPLAY_H
#define TRAILGUARD_REPLAY_REPLAY_H

#include "trailguard/replay.h"

#define TG_REPLAY_POSITION_ID     1     /* the id of the one simulated position */
#define TG_REPLAY_PROGRESS_POINTS 65536 /* points between two progress reports */

#endif
