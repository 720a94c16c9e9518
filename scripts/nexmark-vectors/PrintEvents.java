// Prints nexmark-flink's generated events as JSON lines, one per event, in the columns of its datagen
// table (timestamps as epoch ms). Run by make-vectors.sh against nexmark's own generator sources.
import com.github.nexmark.flink.NexmarkConfiguration;
import com.github.nexmark.flink.generator.GeneratorConfig;
import com.github.nexmark.flink.generator.NexmarkGenerator;
import com.github.nexmark.flink.model.Auction;
import com.github.nexmark.flink.model.Bid;
import com.github.nexmark.flink.model.Event;
import com.github.nexmark.flink.model.Person;

public class PrintEvents {
  public static void main(String[] args) {
    long count = Long.parseLong(args[0]);
    int rate = Integer.parseInt(args[1]);
    long baseTime = Long.parseLong(args[2]);
    NexmarkConfiguration conf = new NexmarkConfiguration();
    conf.firstEventRate = rate;
    conf.nextEventRate = rate;
    // As nexmark-flink's table source builds it: first event id 1, first event number 1.
    NexmarkGenerator generator = new NexmarkGenerator(new GeneratorConfig(conf, baseTime, 1, count, -1L, 1));
    StringBuilder out = new StringBuilder();
    while (generator.hasNext()) {
      NexmarkGenerator.NextEvent next = generator.next();
      Event e = next.event;
      out.append("{\"event_type\":").append(e.type.value);
      out.append(",\"person\":").append(e.newPerson == null ? "null" : person(e.newPerson));
      out.append(",\"auction\":").append(e.newAuction == null ? "null" : auction(e.newAuction));
      out.append(",\"bid\":").append(e.bid == null ? "null" : bid(e.bid));
      out.append(",\"dateTime\":").append(next.eventTimestamp).append("}\n");
    }
    System.out.print(out);
  }

  static String person(Person p) {
    return "{\"id\":" + p.id + ",\"name\":" + q(p.name) + ",\"emailAddress\":" + q(p.emailAddress) + ",\"creditCard\":" + q(p.creditCard)
        + ",\"city\":" + q(p.city) + ",\"state\":" + q(p.state) + ",\"dateTime\":" + p.dateTime.toEpochMilli() + ",\"extra\":" + q(p.extra) + "}";
  }

  static String auction(Auction a) {
    return "{\"id\":" + a.id + ",\"itemName\":" + q(a.itemName) + ",\"description\":" + q(a.description) + ",\"initialBid\":" + a.initialBid
        + ",\"reserve\":" + a.reserve + ",\"dateTime\":" + a.dateTime.toEpochMilli() + ",\"expires\":" + a.expires.toEpochMilli()
        + ",\"seller\":" + a.seller + ",\"category\":" + a.category + ",\"extra\":" + q(a.extra) + "}";
  }

  static String bid(Bid b) {
    return "{\"auction\":" + b.auction + ",\"bidder\":" + b.bidder + ",\"price\":" + b.price + ",\"channel\":" + q(b.channel)
        + ",\"url\":" + q(b.url) + ",\"dateTime\":" + b.dateTime.toEpochMilli() + ",\"extra\":" + q(b.extra) + "}";
  }

  static String q(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
