/*
 * conf_lexer.h -- splits configuration text into statements, with nginx's
 * lexical rules.
 *
 * The lexer reads cf->file, a whole file already in memory, and does no
 * I/O. One call reads one statement: its words go to cf->args and the
 * return value says how the statement ended. The grammar:
 *   - words are separated by spaces, tabs, CR and LF;
 *   - ';' ends a statement, '{' ends one that opens a block, '}' closes a
 *     block and must stand alone;
 *   - '#' at the start of a word comments out the rest of the line;
 *   - a word starting with '"' or '\'' runs to the matching quote and must be
 *     followed by a space, ';', '{' or ')' (a ')' then starts the next word,
 *     as `if ($a = "b")` needs); "" is an empty word;
 *   - a backslash keeps the next byte from ending the word; in the copy
 *     \" \' \\ become the byte, \t \r \n become TAB CR LF, and any other \x
 *     stays as the two bytes (regular expressions rely on it);
 *   - "$var" and "${var}" stay literal: a '{' right after '$' belongs to the
 *     word.
 *
 * Words without escapes point into the file buffer (the byte after each
 * word, already read, is overwritten with a NUL); words with escapes are
 * copied into cf->pool. Either way every word is NUL-terminated.
 *
 * Errors are reported with bw_conf_error() at the line the lexer stands on,
 * in nginx's words, and mark the file failed (cf->file->failed).
 */
#ifndef BW_CONF_LEXER_H
#define BW_CONF_LEXER_H

#include "conf.h"

typedef enum {
    BW_CONF_LEX_STMT = 0,  /* ';' ended a statement: words in cf->args */
    BW_CONF_LEX_BLOCK,     /* '{' ended a statement: words in cf->args */
    BW_CONF_LEX_BLOCK_END, /* '}' (cf->args empty) */
    BW_CONF_LEX_EOF,       /* end of the text between statements */
    BW_CONF_LEX_ERROR,     /* reported; cf->file->failed is set */
} bw_conf_lex_t;

/*
 * Reads the next statement of cf->file into cf->args (emptied first; must
 * be an array of bw_str_t). Advances cf->file->pos and ->line.
 */
bw_conf_lex_t bw_conf_lexer_next(bw_conf_t *cf);

#endif
