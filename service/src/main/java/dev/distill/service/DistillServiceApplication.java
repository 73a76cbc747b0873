package dev.distill.service;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The control plane. */
@SpringBootApplication
public class DistillServiceApplication {

  public static void main(String[] args) {
    SpringApplication.run(DistillServiceApplication.class, args);
  }
}
