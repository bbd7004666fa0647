// A JVM writing the way Java databases and message queues do: a FileChannel
// write, then force(false) (fdatasync). Run with the source launcher:
//   java ForceWriter.java <file> <blocks>
// Prints "done <blocks>" when every block is on the disk.
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

public class ForceWriter {
    public static void main(String[] args) throws Exception {
        int blocks = Integer.parseInt(args[1]);
        ByteBuffer block = ByteBuffer.allocate(4096);
        try (FileChannel channel = FileChannel.open(Path.of(args[0]), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE)) {
            for (int i = 0; i < blocks; i++) {
                block.clear();
                channel.write(block, (long) i * block.capacity());
                channel.force(false);
            }
        }
        System.out.println("done " + blocks);
    }
}
