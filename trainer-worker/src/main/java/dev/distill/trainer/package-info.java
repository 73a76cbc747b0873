/** The trainer library and the worker process. */
package dev.distill.trainer;
