package dev.distill.trainer.data;

import dev.distill.spec.Catalog;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The Magpie pre-query templates we support (Xu et al. 2024, "Magpie: Alignment Data Synthesis from
 * Scratch by Prompting Aligned LLMs with Nothing"; magpie-align/magpie {@code
 * configs/model_configs.json}), by the name a spec's {@code generation.pre_query_template} uses
 * (the spec's {@link Catalog#PRE_QUERY_TEMPLATES}), mapped to our {@link PromptTemplate}. The
 * template text is the chat template up to where the first user message starts ({@link
 * PromptTemplate#preQuery}); nothing is read at run time.
 *
 * <ul>
 *   <li>{@code gemma2}, {@code gemma}: {@code <bos><start_of_turn>user\n} (the official Gemma
 *       template; Magpie's gemma-2 entries add a stray {@code \n}, its gemma-1.1 entry does not)
 *   <li>{@code llama3}: {@code <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n}
 *   <li>{@code phi3}: {@code <s><|user|>\n} (BOS is the tokenizer's)
 *   <li>{@code chatml}, {@code qwen2}: {@code <|im_start|>user\n}
 * </ul>
 */
public final class PreQueryTemplates {

  /** Spec name to prompt template, from the spec's {@link Catalog#PRE_QUERY_TEMPLATES}. */
  private static final Map<String, PromptTemplate> BY_NAME = new LinkedHashMap<>();

  static {
    Catalog.PRE_QUERY_TEMPLATES.forEach(
        (name, template) -> BY_NAME.put(name, PromptTemplate.of(template)));
  }

  private PreQueryTemplates() {}

  /** The supported names, in a stable order. */
  public static java.util.List<String> names() {
    return java.util.List.copyOf(BY_NAME.keySet());
  }

  /**
   * The prompt template of a pre-query template name.
   *
   * @param name a spec's {@code generation.pre_query_template}, or null for {@code fallback}
   * @param fallback the template used when no name is given (the dataset's, or gemma)
   * @throws IllegalArgumentException naming the field and value when the name is unknown or the
   *     fallback has no chat turns (alpaca)
   */
  public static PromptTemplate of(String name, PromptTemplate fallback) {
    if (name == null) {
      if (fallback == PromptTemplate.ALPACA) {
        throw new IllegalArgumentException(
            "generation.pre_query_template: the alpaca template has no chat turns for Magpie;"
                + " name one of "
                + names());
      }
      return fallback;
    }
    PromptTemplate t = BY_NAME.get(name.toLowerCase(Locale.ROOT));
    if (t == null) {
      throw new IllegalArgumentException(
          "generation.pre_query_template must be one of " + names() + ", was '" + name + "'");
    }
    return t;
  }

  /** The pre-query text of a name with the tokenizer's BOS string. */
  public static String text(String name, String bosToken) {
    return of(name, PromptTemplate.GEMMA).preQuery(bosToken);
  }
}
