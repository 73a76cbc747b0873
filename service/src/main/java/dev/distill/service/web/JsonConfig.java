package dev.distill.service.web;

import dev.distill.spec.SpecJson;
import org.springframework.boot.jackson.autoconfigure.JsonMapperBuilderCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The service reads JSON by the spec's strict rules ({@link SpecJson}: no duplicate keys, no
 * coercion of strings to numbers or fractions to integers), the same the command line applies.
 */
@Configuration(proxyBeanMethods = false)
class JsonConfig {

  @Bean
  JsonMapperBuilderCustomizer specJsonRules() {
    return builder -> SpecJson.configure(builder);
  }
}
