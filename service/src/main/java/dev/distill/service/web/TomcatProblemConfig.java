package dev.distill.service.web;

import org.apache.catalina.Valve;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.valves.ErrorReportValve;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;

/**
 * Replaces Tomcat's HTML error report (and the plain one Spring Boot installs) with {@link
 * ProblemReportValve}, so a request Tomcat refuses itself is answered in problem+json too. Runs
 * after Boot's own customizer, whose valve it removes.
 */
@Configuration(proxyBeanMethods = false)
class TomcatProblemConfig
    implements WebServerFactoryCustomizer<TomcatServletWebServerFactory>, Ordered {

  @Override
  public void customize(TomcatServletWebServerFactory factory) {
    factory.addContextCustomizers(
        context -> {
          if (!(context.getParent() instanceof StandardHost host)) {
            return;
          }
          for (Valve v : host.getPipeline().getValves()) {
            if (v instanceof ErrorReportValve) {
              host.getPipeline().removeValve(v);
            }
          }
          // the host adds a valve of this class at start unless it finds one already
          host.setErrorReportValveClass(ProblemReportValve.class.getName());
          host.getPipeline().addValve(new ProblemReportValve());
        });
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }
}
