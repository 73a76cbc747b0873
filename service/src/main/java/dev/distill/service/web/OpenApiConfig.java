package dev.distill.service.web;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.swagger.v3.core.jackson.ModelResolver;
import io.swagger.v3.oas.models.Components;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.info.Info;
import io.swagger.v3.oas.models.security.SecurityRequirement;
import io.swagger.v3.oas.models.security.SecurityScheme;
import org.springdoc.core.customizers.OpenApiCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The OpenAPI document: bearer auth, schemas in snake_case like the JSON on the wire (swagger reads
 * models with its own Jackson 2 mapper, which does not see the service's Jackson 3 naming), and the
 * spec's names as enums ({@link SpecSchemas}).
 */
@Configuration(proxyBeanMethods = false)
class OpenApiConfig {

  @Bean
  ModelResolver snakeCaseModelResolver() {
    return new ModelResolver(
        new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE));
  }

  /** The spec's names (presets, templates, formats, ...) as enums, from {@code Catalog}. */
  @Bean
  OpenApiCustomizer specCatalogEnums() {
    return openApi -> {
      if (openApi.getComponents() != null) {
        SpecSchemas.addCatalog(openApi.getComponents().getSchemas());
      }
    };
  }

  @Bean
  OpenAPI distillOpenApi() {
    return new OpenAPI()
        .info(
            new Info()
                .title("distill control plane")
                .version("v1")
                .description("Jobs REST API and worker protocol; see docs/api.md."))
        .components(
            new Components()
                .addSecuritySchemes(
                    "bearer", new SecurityScheme().type(SecurityScheme.Type.HTTP).scheme("bearer")))
        .addSecurityItem(new SecurityRequirement().addList("bearer"));
  }
}
