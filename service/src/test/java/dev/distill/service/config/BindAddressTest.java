package dev.distill.service.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distill.service.ServiceTest;
import java.net.InetAddress;
import org.apache.catalina.connector.Connector;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.tomcat.TomcatWebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;

/** The jar listens on the loopback interface unless given --server.address (or DISTILL_ADDRESS). */
class BindAddressTest extends ServiceTest {

  @Autowired WebServerApplicationContext context;

  @Test
  void theDefaultIsLoopbackOnly() {
    Connector connector = ((TomcatWebServer) context.getWebServer()).getTomcat().getConnector();
    Object address = connector.getProperty("address");
    assertThat(address).isInstanceOf(InetAddress.class);
    assertThat(((InetAddress) address).isLoopbackAddress()).as("bound to %s", address).isTrue();
  }
}
