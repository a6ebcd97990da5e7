#ifndef SOURCED_CEDIT_SHIM_H
#define SOURCED_CEDIT_SHIM_H
#include <stdio.h>
#include <editline/readline.h>

/* libedit's readline-compatible API configures itself through global variables, which Swift 6
   does not let code touch directly; these set them. They are called only between lines, or from
   inside readline() on the thread that runs it. */

/* Completes with `function` only: no file-name completion when it finds nothing, and a space
   after a unique match. */
static inline void sourced_edit_set_completion(rl_completion_func_t *function) {
    rl_attempted_completion_function = function;
    rl_attempted_completion_over = 1;
    rl_completion_append_character = ' ';
    rl_basic_word_break_characters = " \t\n";
}

/* During a completion: no file-name completion when `function` found nothing. */
static inline void sourced_edit_no_default_completion(void) {
    rl_attempted_completion_over = 1;
}
#endif
