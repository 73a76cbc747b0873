package dev.distill.trainer.data;

/**
 * A piece of rendered text.
 *
 * @param text the text, including template markers
 * @param response whether it belongs to a response (trained on when the prompt is masked)
 */
public record Segment(String text, boolean response) {}
