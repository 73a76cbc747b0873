/**
 * Models that answer with text only: {@link TextModel} (a raw completion, or one user message
 * through the model's chat template), what a job asks of an outside OpenAI-compatible endpoint or
 * of one of our models used as a judge. The HTTP client lives in the application ({@link
 * EndpointConnector} is how a run gets one); nothing here speaks HTTP.
 */
package dev.distill.trainer.text;
