package dev.distill.service;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;
import org.springframework.scheduling.annotation.EnableScheduling;

/** The control plane. */
@SpringBootApplication
@ConfigurationPropertiesScan
@EnableScheduling
public class DistillServiceApplication {

  public static void main(String[] args) {
    SpringApplication.run(DistillServiceApplication.class, args);
  }
}
