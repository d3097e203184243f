/*  =========================================================================
    asyncmesh_values.h - Python values to JSON values (jansson) and back

    Shared by the client extension (asyncmesh_module.c) and the task side
    that asyncnode embeds (asyncmesh_task.c), so that a task's arguments
    and result map exactly as the client's: int, float, str, bool, None,
    list, dict; any other type is a TypeError. Include after Python.h.
    =========================================================================
*/
#ifndef ASYNCMESH_VALUES_H_INCLUDED
#define ASYNCMESH_VALUES_H_INCLUDED

#include <jansson.h>
#include <math.h>

//  Values nested deeper than this are refused (the broker's codec has
//  a bound too; this one keeps the C stack safe first)
#define S_MAX_DEPTH 100

//  ---------------------------------------------------------------------
//  Values: Python to JSON and back

//  A new JSON value for `object`, or NULL with an exception set
static json_t *
s_to_json (PyObject *object, int depth)
{
    if (depth > S_MAX_DEPTH) {
        PyErr_Format (PyExc_ValueError, "a job value may nest at most %d lists or dicts",
                      S_MAX_DEPTH);
        return NULL;
    }
    json_t *json = NULL;
    if (object == Py_None)
        json = json_null ();
    else if (PyBool_Check (object))
        json = json_boolean (object == Py_True);
    else if (PyLong_Check (object)) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow (object, &overflow);
        if (overflow) {
            PyErr_SetString (PyExc_OverflowError,
                             "an int in a job value must fit in 64 bits, "
                             "signed (-2**63 to 2**63-1)");
            return NULL;
        }
        if (value == -1 && PyErr_Occurred ())
            return NULL;
        json = json_integer ((json_int_t) value);
    }
    else if (PyFloat_Check (object)) {
        double value = PyFloat_AsDouble (object);
        if (!isfinite (value)) {
            PyErr_SetString (PyExc_ValueError,
                             "a float in a job value must be finite "
                             "(JSON has no NaN or infinity)");
            return NULL;
        }
        json = json_real (value);
    }
    else if (PyUnicode_Check (object)) {
        Py_ssize_t size;
        const char *text = PyUnicode_AsUTF8AndSize (object, &size);
        if (!text)
            return NULL;
        json = json_stringn (text, (size_t) size);
    }
    else if (PyList_Check (object)) {
        json = json_array ();
        for (Py_ssize_t i = 0; json && i < PyList_GET_SIZE (object); i++) {
            json_t *item = s_to_json (PyList_GET_ITEM (object, i), depth + 1);
            if (!item || json_array_append_new (json, item)) {
                json_decref (json);
                return item ? (json_t *) PyErr_NoMemory () : NULL;
            }
        }
    }
    else if (PyDict_Check (object)) {
        json = json_object ();
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (json && PyDict_Next (object, &pos, &key, &value)) {
            if (!PyUnicode_Check (key)) {
                PyErr_Format (PyExc_TypeError,
                              "a dict in a job value must have str keys, "
                              "not '%.100s'",
                              Py_TYPE (key)->tp_name);
                json_decref (json);
                return NULL;
            }
            Py_ssize_t size;
            const char *name = PyUnicode_AsUTF8AndSize (key, &size);
            json_t *item = name ? s_to_json (value, depth + 1) : NULL;
            if (!item) {
                json_decref (json);
                return NULL;
            }
            if (json_object_setn_new (json, name, (size_t) size, item)) {
                json_decref (json);
                return (json_t *) PyErr_NoMemory ();
            }
        }
    }
    else {
        PyErr_Format (PyExc_TypeError,
                      "cannot send a value of type '%.100s': job values are "
                      "int, float, str, bool, None, list and dict",
                      Py_TYPE (object)->tp_name);
        return NULL;
    }
    if (!json)
        PyErr_NoMemory ();
    return json;
}

//  A new Python object for `json`, or NULL with an exception set
static PyObject *
s_from_json (json_t *json)
{
    switch (json_typeof (json)) {
        case JSON_NULL: Py_RETURN_NONE;
        case JSON_TRUE: Py_RETURN_TRUE;
        case JSON_FALSE: Py_RETURN_FALSE;
        case JSON_INTEGER: return PyLong_FromLongLong ((long long) json_integer_value (json));
        case JSON_REAL: return PyFloat_FromDouble (json_real_value (json));
        case JSON_STRING:
            return PyUnicode_DecodeUTF8 (json_string_value (json),
                                         (Py_ssize_t) json_string_length (json),
                                         "surrogateescape");
        case JSON_ARRAY: {
            PyObject *list = PyList_New ((Py_ssize_t) json_array_size (json));
            for (size_t i = 0; list && i < json_array_size (json); i++) {
                PyObject *item = s_from_json (json_array_get (json, i));
                if (!item) {
                    Py_DECREF (list);
                    return NULL;
                }
                PyList_SET_ITEM (list, (Py_ssize_t) i, item);
            }
            return list;
        }
        case JSON_OBJECT: {
            PyObject *dict = PyDict_New ();
            const char *key;
            size_t key_size;
            json_t *value;
            if (!dict)
                return NULL;
            json_object_keylen_foreach (json, key, key_size, value)
            {
                PyObject *name = PyUnicode_DecodeUTF8 (key, (Py_ssize_t) key_size,
                                                       "surrogateescape");
                PyObject *item = name ? s_from_json (value) : NULL;
                int rc = item ? PyDict_SetItem (dict, name, item) : -1;
                Py_XDECREF (name);
                Py_XDECREF (item);
                if (rc) {
                    Py_DECREF (dict);
                    return NULL;
                }
            }
            return dict;
        }
    }
    PyErr_SetString (PyExc_ValueError, "unexpected JSON value from libasync");
    return NULL;
}

#endif
