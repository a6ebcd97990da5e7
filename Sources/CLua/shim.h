#ifndef SOURCED_CLUA_SHIM_H
#define SOURCED_CLUA_SHIM_H
// Lua 5.4 for SourcedLua, with the few helpers Swift cannot write itself: C macros, a variadic
// error call, and the two callbacks that bound a model (an allocator with a limit and a count hook).
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <stdlib.h>

/// What one Lua state may use: bytes allocated (all of the state's memory goes through
/// `sourced_lua_alloc`) and instructions per call (counted by `sourced_lua_hook`).
typedef struct sourced_lua_limits {
    size_t used;
    size_t memory_limit;
    long long instructions;
    long long instruction_limit;
    int exhausted; // 1: instructions, 2: memory
} sourced_lua_limits;

/// How many instructions run between two hook calls: the budget's granularity.
#define SOURCED_LUA_HOOK_STEP 1000

static inline void *sourced_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sourced_lua_limits *limits = (sourced_lua_limits *)ud;
    size_t old = ptr == NULL ? 0 : osize;
    if (nsize == 0) {
        free(ptr);
        limits->used -= old;
        return NULL;
    }
    if (nsize > old && limits->used + (nsize - old) > limits->memory_limit) {
        limits->exhausted = 2;
        return NULL;
    }
    void *block = realloc(ptr, nsize);
    if (block != NULL) {
        limits->used = limits->used - old + nsize;
    }
    return block;
}

static inline void sourced_lua_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    void *ud = NULL;
    lua_getallocf(L, &ud);
    sourced_lua_limits *limits = (sourced_lua_limits *)ud;
    limits->instructions += SOURCED_LUA_HOOK_STEP;
    if (limits->instructions > limits->instruction_limit) {
        limits->exhausted = 1;
        // Once over, every later step fails again: nothing can run on.
        luaL_error(L, "instruction budget of %lld exhausted", limits->instruction_limit);
    }
}

/// A state whose memory is bounded by `limits`, with the instruction hook installed.
static inline lua_State *sourced_lua_newstate(sourced_lua_limits *limits) {
    lua_State *L = lua_newstate(sourced_lua_alloc, limits);
    if (L != NULL) {
        lua_sethook(L, sourced_lua_hook, LUA_MASKCOUNT, SOURCED_LUA_HOOK_STEP);
    }
    return L;
}

static inline int sourced_lua_pcall(lua_State *L, int nargs, int nresults) {
    return lua_pcall(L, nargs, nresults, 0);
}

static inline void sourced_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void sourced_lua_newtable(lua_State *L) { lua_newtable(L); }
static inline int sourced_lua_isnil(lua_State *L, int index) { return lua_isnil(L, index); }
static inline int sourced_lua_istable(lua_State *L, int index) { return lua_istable(L, index); }
static inline int sourced_lua_isfunction(lua_State *L, int index) { return lua_isfunction(L, index); }
static inline const char *sourced_lua_tolstring(lua_State *L, int index, size_t *length) { return lua_tolstring(L, index, length); }
static inline lua_Integer sourced_lua_tointeger(lua_State *L, int index) { return lua_tointegerx(L, index, NULL); }
static inline lua_Number sourced_lua_tonumber(lua_State *L, int index) { return lua_tonumberx(L, index, NULL); }
static inline int sourced_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int sourced_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void sourced_lua_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }

/// Loads `length` bytes of Lua source (text only: bytecode is refused) as chunk `name`.
static inline int sourced_lua_loadsource(lua_State *L, const char *source, size_t length, const char *name) {
    return luaL_loadbufferx(L, source, length, name, "t");
}
#endif
