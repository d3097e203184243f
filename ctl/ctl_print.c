/*  =========================================================================
    ctl_print - JSON for scripts, trees and tables for people
    =========================================================================
*/
#include "ctl.h"
#include "async_codec.h"
#include "async_alloc.h"
#include <stdlib.h>
#include <string.h>

//  Longest inline value in a tree before it is unfolded
#define S_INLINE_MAX 60

char *
ctl_json_dumps (json_t *value)
{
    return async_codec_json_dumps (value);
}

int
ctl_print_json (FILE *out, json_t *value)
{
    char *text = ctl_json_dumps (value);
    if (!text)
        return -1;
    fprintf (out, "%s\n", text);
    free (text);
    return 0;
}

//  A value as people read it in a cell: strings bare ("" when empty),
//  null as "-", the rest as compact JSON. Caller frees.
static char *
s_cell (json_t *value)
{
    if (json_is_string (value))
        return async_xstrdup (*json_string_value (value) ? json_string_value (value) : "\"\"");
    if (!value || json_is_null (value))
        return async_xstrdup ("-");
    char *text = ctl_json_dumps (value);
    return text ? text : async_xstrdup ("?");
}

//  True when value is an array holding arrays or objects (an array of
//  plain values stays on one line, however long)
static bool
s_holds_containers (json_t *value)
{
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item)
        if (json_is_object (item) || json_is_array (item))
            return true;
    return false;
}

//  Start a line at `indent`; when *dash, with "- " in its last two columns
//  (the first line of an object that is an item of an array)
static void
s_indent (FILE *out, int indent, bool *dash)
{
    if (*dash)
        fprintf (out, "%*s- ", indent - 2, "");
    else
        fprintf (out, "%*s", indent, "");
    *dash = false;
}

static void
    s_print_tree (FILE *out, json_t *value, int indent, bool dash);

//  Print one member of a tree: `label` is "key: " or "- "
static void
s_print_member (FILE *out, const char *label, json_t *value, int indent, bool *dash)
{
    char *cell = s_cell (value);
    if (!cell)
        return;
    bool unfold = (json_is_object (value) || s_holds_containers (value))
                  && strlen (cell) > S_INLINE_MAX;
    bool lines = json_is_string (value) && strchr (cell, '\n');
    if (unfold && json_is_object (value) && strcmp (label, "- ") == 0)
        s_print_tree (out, value, indent + 2, true);
    else
    if (!unfold && !lines) {
        s_indent (out, indent, dash);
        fprintf (out, "%s%s\n", label, cell);
    }
    else {
        //  The label alone, then the value below it, indented
        s_indent (out, indent, dash);
        fprintf (out, "%.*s\n", (int) strlen (label) - 1, label);
        if (unfold)
            s_print_tree (out, value, indent + 2, false);
        else {
            //  Multi-line text (a failure's detail): one line each
            char *save = NULL;
            for (char *line = strtok_r (cell, "\n", &save); line;
                 line = strtok_r (NULL, "\n", &save))
                fprintf (out, "%*s%s\n", indent + 2, "", line);
        }
    }
    free (cell);
}

static void
s_print_tree (FILE *out, json_t *value, int indent, bool dash)
{
    if (json_is_object (value)) {
        const char *key;
        json_t *item;
        json_object_foreach (value, key, item) {
            char label [256];
            snprintf (label, sizeof label, "%s: ", key);
            s_print_member (out, label, item, indent, &dash);
        }
    }
    else
    if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            s_print_member (out, "- ", item, indent, &dash);
    }
    else {
        char *cell = s_cell (value);
        s_indent (out, indent, &dash);
        fprintf (out, "%s\n", cell ? cell : "?");
        free (cell);
    }
}

void
ctl_print_tree (FILE *out, json_t *value, int indent)
{
    s_print_tree (out, value, indent, false);
}

void
ctl_print_words (FILE *out, json_t *words, int indent, int width)
{
    size_t column = 0;              //  0: nothing on this line yet
    size_t index;
    json_t *word;
    json_array_foreach (words, index, word) {
        const char *text = json_string_value (word);
        if (!text)
            continue;
        size_t length = strlen (text);
        if (column && column + 2 + length > (size_t) width) {
            fprintf (out, "\n");
            column = 0;
        }
        if (column == 0)
            column = (size_t) fprintf (out, "%*s%s", indent, "", text);
        else
            column += (size_t) fprintf (out, "  %s", text);
    }
    if (column)
        fprintf (out, "\n");
}

void
ctl_print_table (FILE *out, json_t *rows, const char *const *columns)
{
    size_t ncolumns = 0;
    while (columns [ncolumns])
        ncolumns++;
    size_t nrows = json_array_size (rows);
    //  cells [row * ncolumns + column]; row 0 is the header
    char **cells = async_xcalloc ((nrows + 1) * ncolumns, sizeof (char *));
    size_t *widths = async_xcalloc (ncolumns, sizeof (size_t));
    for (size_t row = 0; row <= nrows; row++) {
        json_t *object = row ? json_array_get (rows, row - 1) : NULL;
        for (size_t column = 0; column < ncolumns; column++) {
            char *cell = row ? s_cell (json_object_get (object, columns [column]))
                             : async_xstrdup (columns [column]);
            size_t width = cell ? strlen (cell) : 0;
            if (width > widths [column])
                widths [column] = width;
            cells [row * ncolumns + column] = cell;
        }
    }
    for (size_t row = 0; row <= nrows; row++) {
        for (size_t column = 0; column < ncolumns; column++) {
            const char *cell = cells [row * ncolumns + column];
            if (column + 1 < ncolumns)
                fprintf (out, "%-*s  ", (int) widths [column], cell ? cell : "");
            else
                fprintf (out, "%s\n", cell ? cell : "");
            free (cells [row * ncolumns + column]);
        }
    }
    free (cells);
    free (widths);
}
